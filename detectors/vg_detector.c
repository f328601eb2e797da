#include "vg_detector.h"

#include <string.h>

#include "vg_ewma.h"
#include "vg_seasonal.h"

const struct vg_detector *const vg_detectors[] = {
    &vg_detector_ewma,
    &vg_detector_seasonal,
    NULL,
};

const struct vg_detector *vg_detector_find(const char *name)
{
    for (size_t i = 0; vg_detectors[i]; i++)
        if (strcmp(vg_detectors[i]->name, name) == 0)
            return vg_detectors[i];
    return NULL;
}
