package testenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// EtcdDelete deletes one key directly in etcd, behind kube-apiserver's back:
// with the API server stopped, this is a change that watchers can only learn
// of by relisting. API objects live under /registry/<resource>/<namespace>/<name>,
// for example /registry/pods/default/web-1.
func (cp *ControlPlane) EtcdDelete(ctx context.Context, key string) error {
	var resp struct {
		Deleted string `json:"deleted"`
	}
	if err := cp.etcdCall(ctx, "/v3/kv/deleterange", map[string]any{"key": b64(key)}, &resp); err != nil {
		return err
	}
	if resp.Deleted != "1" {
		return fmt.Errorf("etcd: key %s not found", key)
	}
	return nil
}

// EtcdCompact compacts etcd's history up to its current revision, so that
// every watch that resumes from an older resource version fails with 410
// Gone and its client must relist. It returns the revision.
func (cp *ControlPlane) EtcdCompact(ctx context.Context) (int64, error) {
	var rng struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := cp.etcdCall(ctx, "/v3/kv/range", map[string]any{"key": b64("/registry/"), "limit": 1}, &rng); err != nil {
		return 0, err
	}
	rev, err := strconv.ParseInt(rng.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd: bad revision %q", rng.Header.Revision)
	}
	if err := cp.etcdCall(ctx, "/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, nil); err != nil {
		return 0, err
	}
	return rev, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// etcdCall uses etcd's JSON gateway, which spares the module a dependency
// on the etcd client.
func (cp *ControlPlane) etcdCall(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cp.EtcdURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s: %s", path, resp.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
