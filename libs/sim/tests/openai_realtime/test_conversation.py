import pytest

from switchboard.sim.openai_realtime import InputText, Item, MessageItem
from switchboard.sim.openai_realtime._conversation import ItemError, find_item, insert_item

pytestmark = pytest.mark.unit


def message(item_id: str | None) -> MessageItem:
    return MessageItem(id=item_id, role="user", content=[InputText(text="hi")], status="in_progress")


def test_items_go_last_first_or_after_another() -> None:
    items: list[Item] = []

    assert insert_item(items, message("a"), None) is None
    assert insert_item(items, message("c"), None) == "a"
    assert insert_item(items, message("b"), "a") == "a"
    assert insert_item(items, message("z"), "root") is None
    assert [item.id for item in items] == ["z", "a", "b", "c"]
    assert all(item.status == "completed" for item in items)


def test_an_item_without_an_id_gets_one() -> None:
    items: list[Item] = []
    insert_item(items, message(None), None)

    assert items[0].id is not None and items[0].id.startswith("item_")


@pytest.mark.parametrize(
    ("item_id", "previous", "code"),
    [("a", None, "item_create_duplicate_item_id"), ("b", "nope", "invalid_value")],
)
def test_rejected_inserts(item_id: str, previous: str | None, code: str) -> None:
    items: list[Item] = [message("a")]

    with pytest.raises(ItemError) as rejected:
        insert_item(items, message(item_id), previous)

    assert rejected.value.code == code and len(items) == 1


def test_finding_a_missing_item_is_item_not_found() -> None:
    with pytest.raises(ItemError) as missing:
        find_item([message("a")], "b")

    assert (missing.value.code, missing.value.param) == ("item_not_found", "item_id")
