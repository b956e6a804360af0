"""What the Daraja client needs to know: plain values, no Django settings access.

The Django side builds a DarajaConfig from settings; tests and the simulator build one by hand. Secrets are
masked in repr() because configs end up in tracebacks, debug pages and log lines.
"""

from __future__ import annotations

from dataclasses import dataclass

# Safaricom refuses callback URLs that contain any of these (docs/daraja.md, "Callback URLs"); the simulator
# refuses them too.
FORBIDDEN_URL_WORDS = ("mpesa", "m-pesa", "safaricom", "sql", "query", "cmd", "exe")


def _mask(value: str) -> str:
    # Show only whether a secret is set: even a prefix of a key narrows a brute force.
    return "'***'" if value else "''"


@dataclass(frozen=True)
class DarajaCredentials:
    """One Daraja app's consumer key and secret (B2C usually has its own app, apart from STK/C2B)."""

    consumer_key: str
    consumer_secret: str

    def __repr__(self) -> str:
        return f"DarajaCredentials(consumer_key={self.consumer_key!r}, consumer_secret={_mask(self.consumer_secret)})"


@dataclass(frozen=True)
class DarajaConfig:
    base_url: str
    b2c_credentials: DarajaCredentials
    stk_credentials: DarajaCredentials
    b2c_shortcode: str = ""
    initiator_name: str = ""
    security_credential: str = ""  # already encrypted with Safaricom's certificate, base64
    stk_shortcode: str = ""
    stk_passkey: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # Payout rails beyond B2C (docs/daraja.md, "Payout rails"): empty means "the B2C shortcode".
    b2b_shortcode: str = ""  # PartyA of paybill, till and Pochi payments
    topup_from_shortcode: str = ""  # PartyA of a float top-up (empty: the B2B shortcode)

    def __repr__(self) -> str:
        return (
            f"DarajaConfig(base_url={self.base_url!r}, b2c_credentials={self.b2c_credentials!r}, "
            f"stk_credentials={self.stk_credentials!r}, b2c_shortcode={self.b2c_shortcode!r}, "
            f"initiator_name={self.initiator_name!r}, security_credential={_mask(self.security_credential)}, "
            f"stk_shortcode={self.stk_shortcode!r}, stk_passkey={_mask(self.stk_passkey)}, "
            f"connect_timeout={self.connect_timeout!r}, read_timeout={self.read_timeout!r}, "
            f"b2b_shortcode={self.b2b_shortcode!r}, topup_from_shortcode={self.topup_from_shortcode!r})"
        )

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) pair every request passes to requests."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def b2b_party_a(self) -> str:
        """The shortcode paybill, till and Pochi payments are drawn from."""
        return self.b2b_shortcode or self.b2c_shortcode

    @property
    def topup_party_a(self) -> str:
        """The shortcode whose Working account a float top-up moves money from."""
        return self.topup_from_shortcode or self.b2b_party_a
