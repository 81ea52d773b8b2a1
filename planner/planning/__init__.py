"""Planning for users: the ``Planner`` (build the problem once, solve it under many
budgets, explain infeasibility), ``plan``, ``pareto`` and what-if analysis."""
