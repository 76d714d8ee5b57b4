"""flight_plans package."""
