"""Print the callback URLs to register with Safaricom, and the shape of the per-payout ones."""

from django.core.management.base import BaseCommand

from payments.callbacks.tokens import TOKEN_SCOPE, callback_url, static_url
from payments.checks import forbidden_words_in

_REGISTER = [
    ("c2b-confirmation", "C2B ConfirmationURL (register with /mpesa/c2b/v2/registerurl)"),
    ("c2b-validation", "C2B ValidationURL"),
    ("stk", "STK push CallBackURL (sent with every push by this system)"),
    ("balance-result", "Account Balance ResultURL (sent with every query)"),
    ("balance-timeout", "Account Balance QueueTimeOutURL"),
]


class Command(BaseCommand):
    help = "Prints the full callback URLs to register with Safaricom and the per-payout URL shape."

    def handle(self, *args, **options):
        self.stdout.write("Static callback URLs:")
        urls = []
        for name, label in _REGISTER:
            url = static_url(name)
            urls.append(url)
            self.stdout.write(f"  {label}:\n    {url}")
        self.stdout.write("\nPer-payout URLs (each B2C request and its status queries carry a token bound to that")
        self.stdout.write("payout's OriginatorConversationID; nothing to register):")
        for name, scope in TOKEN_SCOPE.items():
            if scope == "payout":
                shape = callback_url(name, "TOKEN")
                urls.append(shape)
                self.stdout.write(f"  {name}: {shape}")
        bad = sorted({word for url in urls for word in forbidden_words_in(url)})
        if bad:
            self.stderr.write(self.style.ERROR(f"Safaricom will reject these URLs: they contain {', '.join(bad)}."))
