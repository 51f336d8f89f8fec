"""Moving the arm: tool kinematics, jogs, timed paths, the planner, streaming motions, and the program runner."""
