#include "autoconf.h"
#include "server.h"
