"""WebSocket transport: hubs subscribe to bus channels; no domain logic lives here."""
