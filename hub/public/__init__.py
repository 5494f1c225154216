"""The public side of the hub: query codes the hotline gives callers, the public view of one
case (``/lookup``, ``GET /public/cases/{number}``) and the public reads behind the Open311
facade (connectors/open311). Nothing here shows a person's name or phone, an internal note or
another case than the one asked for."""
