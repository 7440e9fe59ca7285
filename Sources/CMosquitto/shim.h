// libmosquitto's client API: flush alerts published to an MQTT broker.
#include <mosquitto.h>
