"""The two-step login (django-two-factor-auth's wizard) with one change: the code step forgives one typo
(payments.second_factor.forgive_one_typo), as the API's X-OTP does. The class keeps its name: the wizard's
form prefix, `login_view-`, is made from it."""

from __future__ import annotations

from two_factor.views import LoginView as TwoFactorLoginView

from payments.second_factor import forgive_one_typo


class LoginView(TwoFactorLoginView):
    def get_device(self, step=None):
        # The device the code step checks the code against (its form's `initial_device`).
        device = super().get_device(step)
        if device is not None:
            forgive_one_typo(device)
        return device
