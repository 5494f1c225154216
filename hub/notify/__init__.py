"""Notifications to people and machines (webhook or log), sent through the outbox."""

from hub.notify.notifier import (
    LogNotifier,
    Notification,
    Notifier,
    WebhookNotifier,
    notifier_for,
    notify,
)

__all__ = ["LogNotifier", "Notification", "Notifier", "WebhookNotifier", "notifier_for", "notify"]
