"""Training of policies on recorded datasets: `robostral train`."""
