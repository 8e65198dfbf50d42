namespace sessiond::sim {}
