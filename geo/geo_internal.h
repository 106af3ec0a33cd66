/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Private to geo/: helpers shared by addr.c and geo.c. */
#ifndef EXFLOW_GEO_INTERNAL_H
#define EXFLOW_GEO_INTERNAL_H

#include "geo.h"

/* Copies addr into key (zero-padded) and returns the version to use for it: an IPv4-mapped
 * IPv6 address (::ffff:0:0/96, RFC 4291 2.5.5.2) becomes the IPv4 address it carries, so
 * ::ffff:10.0.0.1 is in 10/8 and is looked up as 10.0.0.1. */
int geo_addr_normalize(int ip_version, const uint8_t addr[GEO_ADDR_LEN], uint8_t key[GEO_ADDR_LEN]);

#endif
