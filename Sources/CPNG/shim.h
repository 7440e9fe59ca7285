// libpng's simplified API: decodes PNG bodies (similarity queries, photos) to RGB.
#include <png.h>
