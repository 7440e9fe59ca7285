// libjpeg-turbo's TurboJPEG API: decodes JPEG bodies (similarity queries, photos) to RGB.
#include <turbojpeg.h>
