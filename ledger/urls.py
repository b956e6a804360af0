"""`/api/ledger/...` (included by mpesa_payouts/urls.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from ledger.api import AccountViewSet, FundingRequestViewSet, StatementProposalViewSet, TrialBalanceViewSet

router = SimpleRouter()
router.register("accounts", AccountViewSet, basename="ledger-account")
router.register("trial-balance", TrialBalanceViewSet, basename="ledger-trial-balance")
router.register("funding", FundingRequestViewSet, basename="ledger-funding")
router.register("statement-postings", StatementProposalViewSet, basename="ledger-statement-posting")

urlpatterns = [path("", include(router.urls))]
