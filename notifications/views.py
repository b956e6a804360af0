"""The console's Inbox page (/admin/inbox/): each person's own items, read and unread, each linking to its
payout; a POST marks items read."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from notifications.inbox import inbox_items, inbox_mark_read


def inbox_view(request):
    if request.method == "POST":
        inbox_mark_read(user=request.user, keys=request.POST.getlist("key"))
        return HttpResponseRedirect(reverse("inbox"))
    items = inbox_items(user=request.user)
    context = {
        **admin.site.each_context(request),
        "title": "Inbox",
        "items": items,
        "unread": [item.key for item in items if not item.read],
    }
    return TemplateResponse(request, "admin/notifications/inbox.html", context)


def inbox_count(request) -> dict:
    """The header's unread count, on the console's pages only (a context processor)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff or not request.path.startswith("/admin/"):
        return {}
    from notifications.inbox import inbox_unread_count

    return {"show_inbox": True, "inbox_unread": inbox_unread_count(user=user)}
