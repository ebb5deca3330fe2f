"""`chorus serve`: an OpenAI-compatible endpoint whose model name chooses a strategy (Best-of-∞ vote,
fixed majority, saved ensemble, Fusion-of-N, Best-of-N, or one sample), every sample through the cache.

No Prefect per request (latency): the app calls `tasks.services`, `tasks.algorithms`,
`tasks.backends` and `storage` directly.
"""
