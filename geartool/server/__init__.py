"""The Gearman job server: a pure scheduler core driven by one epoll set of peer sockets."""
