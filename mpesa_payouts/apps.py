"""The sign-in apps under names a finance person reads in the console's sidebar: Django shows an app's label
("AXES", "OTP_TOTP") when the app gives no verbose name, and these three give none."""

from axes.apps import AppConfig as AxesAppConfig
from django_otp.plugins.otp_static.apps import DefaultConfig as OTPStaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as OTPTOTPConfig


class SignInAttemptsConfig(AxesAppConfig):
    verbose_name = "Sign-in attempts and lockouts"


class AuthenticatorAppsConfig(OTPTOTPConfig):
    verbose_name = "Second factor: authenticator apps"


class BackupCodesConfig(OTPStaticConfig):
    verbose_name = "Second factor: backup codes"
