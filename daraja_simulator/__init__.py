"""A local Daraja (M-Pesa API) simulator: OAuth, B2C v3, Transaction Status, Account Balance, STK push and its
query, C2B, the B2B (paybill, till, float top-up) and B2Pochi rails (rails.py), Reversal, Pull Transactions,
Hakikisha and Org Info.

Plain Python (standard library HTTP server, `requests` for callbacks, no Django). Outcomes are chosen by the
last three digits of the phone number: see scenarios.py and docs/simulator.md.
"""

from daraja_simulator.engine import DarajaSimulator, SimulatorSettings
from daraja_simulator.keys import SimulatorKeys
from daraja_simulator.ledger import Ledger, PaymentRecord
from daraja_simulator.scenarios import B2C_SCENARIOS, STK_SCENARIOS, phone_for, scenario_table
from daraja_simulator.server import SimulatorServer

__all__ = [
    "B2C_SCENARIOS",
    "STK_SCENARIOS",
    "DarajaSimulator",
    "Ledger",
    "PaymentRecord",
    "SimulatorKeys",
    "SimulatorServer",
    "SimulatorSettings",
    "phone_for",
    "scenario_table",
]
