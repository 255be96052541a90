"""Outbound events: the relay that posts the event outbox to the CRM, in order per promise."""
