#include "autoconf.h"
#include "proto.h"
