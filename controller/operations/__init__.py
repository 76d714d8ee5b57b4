"""Running sorties: dispatcher actions and the vehicle executor (asyncio, owned by the app lifespan)."""
