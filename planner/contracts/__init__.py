"""Data contracts every stage shares: the plan file schema, SI units, and the registry of
quantities. Imports nothing else of ``planner``."""
