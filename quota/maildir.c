/* maildir - not written yet */
#include "autoconf.h"
#include "maildir.h"
