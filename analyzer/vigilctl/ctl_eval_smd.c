#include "ctl_eval.h"

int ctl_eval_smd(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
