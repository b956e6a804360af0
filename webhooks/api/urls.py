from rest_framework.routers import SimpleRouter

from webhooks.api.views import EventViewSet, WebhookEndpointViewSet

router = SimpleRouter()
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("events", EventViewSet, basename="webhook-event")

urlpatterns = router.urls
