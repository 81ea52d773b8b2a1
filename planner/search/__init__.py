"""The search for a plan: compression options and their costs, accuracy proxies, the
problem as plain data, the exact ILP and the greedy and uniform baselines."""
