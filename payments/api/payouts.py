"""Payouts (refunds and disbursements), read side: `GET /api/payouts/` and `GET /api/payouts/{id}/`.

Reading needs the view permission on payouts (either role); the request, edit, approve and reject actions
need their own (payments/api/permissions.py).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api_pagination import NewestFirstPagination
from core.errors import NotFound
from payments import selectors
from payments.api.actions import PayoutActionsMixin
from payments.api.filters import PayoutFilter
from payments.api.permissions import CanReadPayouts
from payments.api.serializers import PayoutDetailSerializer, PayoutSerializer
from payments.models import Payout
from payments.payouts import notes as note_services


class PayoutNoteSerializer(serializers.Serializer):
    author = serializers.CharField(source="author.get_username", read_only=True)
    text = serializers.CharField(min_length=2, max_length=note_services.NOTE_MAX)
    created_at = serializers.DateTimeField(read_only=True)


class PayoutViewSet(PayoutActionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Payouts newest first, each with its requester and active approvals; the detail adds the audit trail."""

    permission_classes = [CanReadPayouts]
    filterset_class = PayoutFilter
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.payout_detail()
        return selectors.payout_list()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return PayoutDetailSerializer
        return PayoutSerializer

    @extend_schema(
        request=PayoutNoteSerializer, responses={200: PayoutNoteSerializer(many=True), 201: PayoutNoteSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        """The payout's case file: its notes, oldest first (GET), or a new note by the caller (POST `text`).
        Anyone who may read the payout may read and write its notes."""
        if not str(pk).isdigit() or not Payout.objects.filter(pk=int(pk)).exists():
            raise NotFound(f"No payout #{pk}.")
        if request.method == "POST":
            serializer = PayoutNoteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = note_services.payout_note_add(
                payout_id=int(pk), author=request.user, text=serializer.validated_data["text"]
            )
            return Response(PayoutNoteSerializer(note).data, status=status.HTTP_201_CREATED)
        notes = Payout.objects.get(pk=int(pk)).notes.select_related("author")
        return Response(PayoutNoteSerializer(notes, many=True).data)
