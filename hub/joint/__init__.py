"""Joint enforcement (联合执法): departments acting together on one or more cases."""
