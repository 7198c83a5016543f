/* didcomm-gateway invite [-c CONFIG] [--state-dir DIR] [--qr] [--json]: the gateway's
 * out-of-band 2.0 invitation to request mediation (goal_code request-mediate, from the
 * gateway's DID): the URL (the gateway's first endpoint with ?_oob=base64url(the minified
 * invitation)), or the invitation itself with --json; --qr adds the URL as a QR code drawn
 * in the terminal (libqrencode). */
#include "gateway.h"
#include "state.h"

#include <getopt.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mediation.h"

/* the QR code in the terminal: one character a column of modules and two rows a line (half
 * blocks: a character cell is about twice as high as wide), light modules drawn, dark ones
 * left blank, with a quiet zone of 2 */
static bool light(const QRcode *qr, int x, int y)
{
	return x < 0 || y < 0 || x >= qr->width || y >= qr->width || !(qr->data[y * qr->width + x] & 1);
}

static int print_qr(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (!qr)
		return -1;
	const int q = 2;
	for (int y = -q; y < qr->width + q; y += 2) {
		for (int x = -q; x < qr->width + q; x++) {
			bool top = light(qr, x, y), bottom = y + 1 < qr->width + q && light(qr, x, y + 1);
			fputs(top && bottom ? "\xe2\x96\x88" : top ? "\xe2\x96\x80" : bottom ? "\xe2\x96\x84" : " ", stdout);
		}
		putchar('\n');
	}
	QRcode_free(qr);
	return 0;
}

int gw_cmd_invite(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' },
		                              { "qr", no_argument, 0, 'q' },
		                              { "json", no_argument, 0, 'j' },
		                              { 0, 0, 0, 0 } };
	const char *conf = NULL, *state = NULL;
	bool qr = false, json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			conf = optarg;
		else if (c == 's')
			state = optarg;
		else if (c == 'q')
			qr = true;
		else if (c == 'j')
			json = true;
		else {
			fprintf(stderr, "usage: invite [-c CONFIG] [--state-dir DIR] [--qr] [--json]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usage: invite [-c CONFIG] [--state-dir DIR] [--qr] [--json]\n");
		return 2;
	}
	struct gw_state s;
	int ret = gw_state_open_cmd(&s, "invite", conf, state);
	if (ret) {
		gw_state_close(&s);
		return ret;
	}
	char *inv = NULL, *url = NULL;
	if (!s.n_endpoints) {
		fprintf(stderr, "invite: the gateway has no endpoint (set public_url, or configure [http])\n");
		ret = 1;
	} else if (dc_oob_invitation(s.did, "request-mediate", "Request mediation from this gateway", &inv) ||
	           dc_oob_url(s.endpoints[0], inv, &url)) {
		fprintf(stderr, "invite: out of memory\n");
		ret = 1;
	} else {
		printf("%s\n", json ? inv : url);
		if (qr && print_qr(url) != 0) {
			fprintf(stderr, "invite: the URL is too long for a QR code\n");
			ret = 1;
		}
	}
	free(inv);
	free(url);
	gw_state_close(&s);
	return ret;
}
