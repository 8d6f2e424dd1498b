#!/bin/sh
# Fill the ports into nginx's config, then run supervisord in the foreground.
set -eu
sed -e "s/@LISTEN_PORT@/${LISTEN_PORT}/" -e "s/@APP_PORT@/${APP_PORT}/" /etc/nginx/nginx.conf.in >/etc/nginx/nginx.conf
exec supervisord -c /etc/supervisord.conf
