"""Response headers every page gets: a Content-Security-Policy (CONTENT_SECURITY_POLICY).

Django's SecurityMiddleware already sends `Referrer-Policy` (SECURE_REFERRER_POLICY) and
`X-Content-Type-Options: nosniff` (SECURE_CONTENT_TYPE_NOSNIFF), and XFrameOptionsMiddleware
`X-Frame-Options: DENY`. The policy allows scripts from this site's own files only: no inline script, no
`eval`, nothing from another origin, so text an attacker manages to put into a page cannot run.
"""

from __future__ import annotations

from django.conf import settings

HEADER = "Content-Security-Policy"


def policy_text(policy: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}".strip() for name, values in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.header = policy_text(settings.CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = self.header
        return response
