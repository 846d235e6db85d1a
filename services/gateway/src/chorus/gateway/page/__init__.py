"""The colleague's page: a signed link, and the server-rendered page it opens (no JavaScript,
no build step), where the colleague connects networks, gives or withdraws consent, and
approves, edits or skips what goes out in their name."""

from chorus.gateway.page.links import LinkRefused, PageLinks, PageVisitor
from chorus.gateway.page.routes import router

__all__ = ["LinkRefused", "PageLinks", "PageVisitor", "router"]
