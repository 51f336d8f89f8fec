"""Robot programs: typed values with their JSON document format, and the versioned library that keeps them."""
