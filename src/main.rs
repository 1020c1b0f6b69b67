fn main() { procpool::worker_entry(); }
