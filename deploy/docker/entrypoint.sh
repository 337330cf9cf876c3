#!/bin/sh
# Entry point of the api and worker images. docker-compose passes every setting, and one left
# unset in .env arrives as an empty string; the programs reject empty values, so empty variables
# are removed here and the program's own default applies (as if the variable were never set).
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=$/\1/p'); do
    unset "$name"
done
exec "$@"
