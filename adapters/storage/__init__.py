"""Storage adapters: memory, SQLite, PostgreSQL (transactional) and Redis (replay stores)."""
