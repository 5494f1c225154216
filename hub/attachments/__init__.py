"""Attachments: photos and documents stored once by content hash, linked to cases, patrols,
ledger items, findings and camera events, their sha256 on the owner's audit trail."""
