"""Placing items in the conversation the way `conversation.item.create/.delete` do."""

from __future__ import annotations

from switchboard.sim.openai_realtime.events import new_id
from switchboard.sim.openai_realtime.items import Item


class ItemError(ValueError):
    """An item operation the real API rejects."""

    def __init__(self, message: str, *, code: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


def insert_item(items: list[Item], item: Item, previous_item_id: str | None) -> str | None:
    """Insert after `previous_item_id` (`root`: first; `None`: last); returns the id of the item before it."""
    if item.id is None:
        item.id = new_id("item")
    elif any(existing.id == item.id for existing in items):
        raise ItemError(
            f"Item with id '{item.id}' already exists.", code="item_create_duplicate_item_id", param="item.id"
        )
    if previous_item_id is None:
        index = len(items)
    elif previous_item_id == "root":
        index = 0
    else:
        found = next((i for i, existing in enumerate(items) if existing.id == previous_item_id), None)
        if found is None:
            raise ItemError(
                f"Error adding item: the previous item with id '{previous_item_id}' does not exist.",
                code="invalid_value",
                param="previous_item_id",
            )
        index = found + 1
    item.status = "completed"
    items.insert(index, item)
    return items[index - 1].id if index > 0 else None


def find_item(items: list[Item], item_id: str) -> Item:
    """The item with this id; `ItemError` (`item_not_found`) when there is none."""
    found = next((item for item in items if item.id == item_id), None)
    if found is None:
        raise ItemError(f"Item with item_id not found: {item_id}", code="item_not_found", param="item_id")
    return found
