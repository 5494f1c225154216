"""Ledgers (台账) of complex problems and rectification orders (限期整改)."""
