"""The Django shell: persists, authorizes and presents; calls the pure core for every rule."""
