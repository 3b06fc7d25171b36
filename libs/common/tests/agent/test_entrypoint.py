import types

import pytest
from pydantic import BaseModel, ConfigDict

from switchboard.common.agent.entrypoint import build_models

pytestmark = pytest.mark.unit


def sdk_module() -> tuple[types.ModuleType, type[BaseModel], type[BaseModel]]:
    """A module shaped like an SDK's types: its own deferred models, and a model it imported from elsewhere."""

    class Deferred(BaseModel):
        model_config = ConfigDict(defer_build=True)
        text: str = ""

    class Foreign(BaseModel):
        model_config = ConfigDict(defer_build=True)

    Deferred.__module__ = "fakesdk.types"
    module = types.ModuleType("fakesdk.types")
    module.Deferred = Deferred  # type: ignore[attr-defined]
    module.Foreign = Foreign  # type: ignore[attr-defined]
    module.helper = len  # type: ignore[attr-defined]
    return module, Deferred, Foreign


def test_the_sdks_deferred_models_are_built_and_nothing_else() -> None:
    module, deferred, foreign = sdk_module()
    assert not deferred.__pydantic_complete__
    assert build_models(module) == 1
    assert deferred.__pydantic_complete__
    assert type(deferred.__pydantic_validator__).__name__ == "SchemaValidator"
    assert deferred(text="hi").model_dump() == {"text": "hi"}
    assert not foreign.__pydantic_complete__, "a model the module only imported is its own SDK's business"
