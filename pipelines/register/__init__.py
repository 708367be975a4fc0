"""The PIN register: pure frames in, frames out; no files, no database.

``batch_scope`` says which records a batch run works on; ``affected_records``
which persons it may change; ``update_register`` decides persons and PINs
(keep, merge, split, cancel, pending) with ``PinEvent``s, and ``name_decisions``
names the reviewer's decision behind each event of applying one; ``golden_records``
chooses each person's canonical values (survivorship); ``make_pins`` issues
serials under the register's key.
"""

from pipelines.register.scope import Scope, batch_scope
from pipelines.register.serials import PrefixExhaustedError, make_pins
from pipelines.register.survivorship import golden_records
from pipelines.register.update import (
    PinEvent,
    PreviousRegister,
    RegisterUpdate,
    affected_records,
    name_decisions,
    update_register,
)

__all__ = [
    "PinEvent",
    "PrefixExhaustedError",
    "PreviousRegister",
    "RegisterUpdate",
    "Scope",
    "affected_records",
    "batch_scope",
    "golden_records",
    "make_pins",
    "name_decisions",
    "update_register",
]
