package main

// The WebKitGTK side, through its C API: the window, the view, the
// tails-server:// scheme and the signals. Go's side of each callback is in
// main.go (a file whose preamble may only declare, since it exports).

/*
#cgo pkg-config: webkit2gtk-4.1 gio-unix-2.0
#include <stdlib.h>
#include <string.h>
#include <webkit2/webkit2.h>
#include <gio/gunixinputstream.h>

extern void goSchemeRequest(WebKitURISchemeRequest *req);
extern void goBody(WebKitURISchemeRequest *req, void *data, gssize n);
extern void goFinish(uintptr_t h);
extern void goLoadFinished(char *uri, char *title);
extern void goScriptDone(char *result);
extern void goClosed(void);
extern void goTitle(char *title);
extern void goDownload(char *uri);

static void on_scheme(WebKitURISchemeRequest *req, gpointer data) {
	g_object_ref(req);
	goSchemeRequest(req);
}

static gboolean idle_finish(gpointer p) {
	goFinish((uintptr_t)p);
	return G_SOURCE_REMOVE;
}

// tsg_schedule_finish runs goFinish(h) on the main loop (from any thread).
void tsg_schedule_finish(uintptr_t h) { g_idle_add(idle_finish, (gpointer)h); }

// Only tails-server: pages, in this window: no other scheme, no new window.
static gboolean on_decide(WebKitWebView *v, WebKitPolicyDecision *d, WebKitPolicyDecisionType t, gpointer data) {
	if (t == WEBKIT_POLICY_DECISION_TYPE_RESPONSE)
		return FALSE;
	WebKitNavigationAction *a = webkit_navigation_policy_decision_get_navigation_action(WEBKIT_NAVIGATION_POLICY_DECISION(d));
	const char *uri = webkit_uri_request_get_uri(webkit_navigation_action_get_request(a));
	if (t == WEBKIT_POLICY_DECISION_TYPE_NEW_WINDOW_ACTION || uri == NULL || strncmp(uri, "tails-server:", 13) != 0) {
		webkit_policy_decision_ignore(d);
		return TRUE;
	}
	return FALSE;
}

static void on_title(WebKitWebView *v, GParamSpec *p, GtkWindow *win) {
	const char *t = webkit_web_view_get_title(v);
	gtk_window_set_title(win, t && *t ? t : "Tails Server");
	if (p != NULL)
		goTitle((char *)gtk_window_get_title(win));
}

static GtkWindow *window;

static void on_load(WebKitWebView *v, WebKitLoadEvent e, gpointer data) {
	if (e != WEBKIT_LOAD_FINISHED)
		return;
	on_title(v, NULL, window);
	goLoadFinished((char *)webkit_web_view_get_uri(v), (char *)gtk_window_get_title(window));
}

static void on_destroy(GtkWidget *w, gpointer data) { goClosed(); }

static WebKitWebView *view;

// A download (a received file, a client's .auth_private) is not left to
// WebKit, which cannot fetch it from the scheme: the window fetches it.
static void on_download(WebKitWebContext *c, WebKitDownload *d, gpointer data) {
	const char *uri = webkit_uri_request_get_uri(webkit_download_get_request(d));
	webkit_download_cancel(d);
	goDownload((char *)uri);
}

// tsg_save_dialog asks where to save name: a path to g_free, or NULL.
char *tsg_save_dialog(const char *name) {
	GtkWidget *dlg = gtk_file_chooser_dialog_new("Save", window, GTK_FILE_CHOOSER_ACTION_SAVE,
		"_Cancel", GTK_RESPONSE_CANCEL, "_Save", GTK_RESPONSE_ACCEPT, NULL);
	gtk_file_chooser_set_do_overwrite_confirmation(GTK_FILE_CHOOSER(dlg), TRUE);
	gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(dlg), name);
	char *path = NULL;
	if (gtk_dialog_run(GTK_DIALOG(dlg)) == GTK_RESPONSE_ACCEPT)
		path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(dlg));
	gtk_widget_destroy(dlg);
	return path;
}

// tsg_alert tells the user what went wrong.
void tsg_alert(const char *msg) {
	GtkWidget *dlg = gtk_message_dialog_new(window, GTK_DIALOG_MODAL, GTK_MESSAGE_ERROR, GTK_BUTTONS_CLOSE, "%s", msg);
	gtk_dialog_run(GTK_DIALOG(dlg));
	gtk_widget_destroy(dlg);
}

// tsg_open makes the window and loads uri in it.
void tsg_open(const char *uri, int width, int height) {
	WebKitWebContext *ctx = webkit_web_context_new_ephemeral();
	webkit_web_context_register_uri_scheme(ctx, "tails-server", on_scheme, NULL, NULL);
	webkit_security_manager_register_uri_scheme_as_secure(webkit_web_context_get_security_manager(ctx), "tails-server");
	g_signal_connect(ctx, "download-started", G_CALLBACK(on_download), NULL);
	view = WEBKIT_WEB_VIEW(g_object_new(WEBKIT_TYPE_WEB_VIEW, "web-context", ctx, NULL));
	WebKitSettings *s = webkit_web_view_get_settings(view);
	webkit_settings_set_enable_developer_extras(s, FALSE);
	webkit_settings_set_javascript_can_open_windows_automatically(s, FALSE);
	window = GTK_WINDOW(gtk_window_new(GTK_WINDOW_TOPLEVEL));
	gtk_window_set_title(window, "Tails Server");
	gtk_window_set_default_size(window, width, height);
	gtk_container_add(GTK_CONTAINER(window), GTK_WIDGET(view));
	g_signal_connect(view, "decide-policy", G_CALLBACK(on_decide), NULL);
	g_signal_connect(view, "notify::title", G_CALLBACK(on_title), window);
	g_signal_connect(view, "load-changed", G_CALLBACK(on_load), NULL);
	g_signal_connect(window, "destroy", G_CALLBACK(on_destroy), NULL);
	webkit_web_view_load_uri(view, uri);
	gtk_widget_show_all(GTK_WIDGET(window));
}

static void script_done(GObject *o, GAsyncResult *res, gpointer data) {
	GError *err = NULL;
	JSCValue *v = webkit_web_view_evaluate_javascript_finish(WEBKIT_WEB_VIEW(o), res, &err);
	if (v == NULL) {
		char *msg = g_strdup_printf("error: %s", err->message);
		goScriptDone(msg);
		g_free(msg);
		g_error_free(err);
		return;
	}
	char *s = jsc_value_to_string(v);
	goScriptDone(s);
	g_free(s);
	g_object_unref(v);
}

// tsg_run_script runs js in the page (the test flag --script).
void tsg_run_script(const char *js) {
	webkit_web_view_evaluate_javascript(view, js, -1, NULL, NULL, NULL, script_done, NULL);
}

typedef struct {
	WebKitURISchemeRequest *req;
	GOutputStream *out;
} body_read;

static void body_done(GObject *src, GAsyncResult *res, gpointer p) {
	body_read *b = p;
	gssize n = g_output_stream_splice_finish(G_OUTPUT_STREAM(src), res, NULL);
	goBody(b->req, g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(b->out)), n);
	g_object_unref(b->out);
	g_free(b);
}

// tsg_read_body reads a request's body asynchronously (a form with a file
// is a stream the main loop feeds), then calls goBody: n is its length, -1
// on a read error; NULL and 0 without a body.
void tsg_read_body(WebKitURISchemeRequest *req) {
	GInputStream *in = webkit_uri_scheme_request_get_http_body(req);
	if (in == NULL) {
		goBody(req, NULL, 0);
		return;
	}
	body_read *b = g_new0(body_read, 1);
	b->req = req;
	b->out = g_memory_output_stream_new_resizable();
	g_output_stream_splice_async(b->out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
		G_PRIORITY_DEFAULT, NULL, body_done, b);
	g_object_unref(in);
}

// tsg_content_type is the request's Content-Type header, or NULL.
const char *tsg_content_type(WebKitURISchemeRequest *req) {
	SoupMessageHeaders *h = webkit_uri_scheme_request_get_http_headers(req);
	return h ? soup_message_headers_get_one(h, "Content-Type") : NULL;
}

// tsg_respond answers req with status, the headers (name\nvalue\n... ) and
// the body read from fd, which the stream closes.
void tsg_respond(WebKitURISchemeRequest *req, int status, const char *reason, const char *ctype, const char *headers, int fd) {
	GInputStream *in = g_unix_input_stream_new(fd, TRUE);
	WebKitURISchemeResponse *resp = webkit_uri_scheme_response_new(in, -1);
	webkit_uri_scheme_response_set_status(resp, status, reason);
	webkit_uri_scheme_response_set_content_type(resp, ctype);
	SoupMessageHeaders *h = soup_message_headers_new(SOUP_MESSAGE_HEADERS_RESPONSE);
	char **kv = g_strsplit(headers, "\n", -1);
	for (int i = 0; kv[i] && kv[i + 1]; i += 2)
		soup_message_headers_append(h, kv[i], kv[i + 1]);
	g_strfreev(kv);
	webkit_uri_scheme_response_set_http_headers(resp, h);
	webkit_uri_scheme_request_finish_with_response(req, resp);
	g_object_unref(resp);
	g_object_unref(in);
	g_object_unref(req);
}
*/
import "C"

import (
	"os"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// request is one request of the view to the tails-server: scheme.
type request struct {
	req    *C.WebKitURISchemeRequest
	method string
	uri    string
	ctype  string
	body   []byte
	tooBig bool
	upload bool // a multipart form (files), refused
}

// readRequest reads what the view asks, on the main thread; its body
// comes later (readBody, then goBody).
func readRequest(req *C.WebKitURISchemeRequest) *request {
	r := &request{req: req,
		method: C.GoString(C.webkit_uri_scheme_request_get_http_method(req)),
		uri:    C.GoString(C.webkit_uri_scheme_request_get_uri(req))}
	if r.method == "" {
		r.method = "GET"
	}
	if ct := C.tsg_content_type(req); ct != nil {
		r.ctype = C.GoString(ct)
	}
	return r
}

func readBody(req *C.WebKitURISchemeRequest) { C.tsg_read_body(req) }

// setBody keeps the body read (data, n bytes; n < 0: a read error).
func (r *request) setBody(data unsafe.Pointer, n C.gssize) {
	switch {
	case n < 0 || n > maxBody:
		r.tooBig = true
	case data != nil:
		r.body = C.GoBytes(data, C.int(n))
	}
}

// respond answers the view, on the main thread: the body is what is
// written to the returned file (a pipe the view reads from as it comes).
func (r *request) respond(status int, reason, ctype string, headers []string) (*os.File, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	cr, cc := C.CString(reason), C.CString(ctype)
	h := ""
	for _, s := range headers {
		h += s + "\n"
	}
	ch := C.CString(h)
	defer C.free(unsafe.Pointer(cr))
	defer C.free(unsafe.Pointer(cc))
	defer C.free(unsafe.Pointer(ch))
	C.tsg_respond(r.req, C.int(status), cr, cc, ch, C.int(fds[0]))
	return os.NewFile(uintptr(fds[1]), "response"), nil
}

func openWindow(uri string, width, height int) {
	cu := C.CString(uri)
	defer C.free(unsafe.Pointer(cu))
	C.tsg_open(cu, C.int(width), C.int(height))
}

func runScript(js string) {
	cs := C.CString(js)
	defer C.free(unsafe.Pointer(cs))
	C.tsg_run_script(cs)
}

// onMain runs fn on the main loop (from any goroutine).
func onMain(fn func()) { C.tsg_schedule_finish(C.uintptr_t(cgo.NewHandle(fn))) }

// saveDialog asks where to save name; "" when the user cancels.
func saveDialog(name string) string {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	p := C.tsg_save_dialog(cn)
	if p == nil {
		return ""
	}
	defer C.g_free(C.gpointer(p))
	return C.GoString(p)
}

func alert(msg string) {
	cm := C.CString(msg)
	defer C.free(unsafe.Pointer(cm))
	C.tsg_alert(cm)
}

// gtkInit starts GTK; false when there is no display to open.
func gtkInit() bool { return C.gtk_init_check(nil, nil) != 0 }

func gtkMain() { C.gtk_main() }
func gtkQuit() { C.gtk_main_quit() }
