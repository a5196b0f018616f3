package netpol_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing/fstest"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/netpol"
)

const shop = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: shop/api:1, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:17, ports: [{name: pg, containerPort: 5432}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: pg}]
`

func Example() {
	ctx := context.Background()
	res, err := manifest.LoadFS(ctx, fstest.MapFS{"shop.yaml": {Data: []byte(shop)}}, manifest.Options{})
	if err != nil {
		panic(err)
	}
	e, err := netpol.New(ctx, inventory.New(&res.Snapshot), netpol.Options{})
	if err != nil {
		panic(err)
	}

	// One question, as `palisade ask reachable --from shop/api --to shop/db --port 5432 -o json` would ask it.
	from, _ := e.ParseEndpoint("shop/api")
	to, _ := e.ParseEndpoint("shop/db")
	v, err := e.Query(netpol.Connection{From: from, To: to, Port: 5432})
	if err != nil {
		panic(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)

	// Every allowed path of the namespace.
	m, err := e.Matrix(ctx, netpol.Scope{Namespace: "shop"})
	if err != nil {
		panic(err)
	}
	for p := range m.Paths() {
		fmt.Printf("%s → %s: %s\n", m.Nodes()[p.From], m.Nodes()[p.To], p.Ports)
	}
	// Output:
	// {
	//   "from": {
	//     "workload": {
	//       "cluster": "default",
	//       "kind": "Deployment",
	//       "namespace": "shop",
	//       "name": "api"
	//     }
	//   },
	//   "to": {
	//     "workload": {
	//       "cluster": "default",
	//       "kind": "Deployment",
	//       "namespace": "shop",
	//       "name": "db"
	//     }
	//   },
	//   "port": 5432,
	//   "protocol": "TCP",
	//   "allowed": true,
	//   "egress": {
	//     "direction": "Egress",
	//     "isolated": false,
	//     "allowed": true,
	//     "reason": "no NetworkPolicy selects shop/Deployment/api for egress: not isolated, everything is allowed"
	//   },
	//   "ingress": {
	//     "direction": "Ingress",
	//     "isolated": true,
	//     "allowed": true,
	//     "policies": [
	//       {
	//         "namespace": "shop",
	//         "name": "db-from-api"
	//       }
	//     ],
	//     "rules": [
	//       {
	//         "policy": {
	//           "namespace": "shop",
	//           "name": "db-from-api"
	//         },
	//         "direction": "Ingress",
	//         "rule": 0,
	//         "peers": [
	//           0
	//         ],
	//         "ports": [
	//           0
	//         ]
	//       }
	//     ],
	//     "reason": "allowed by shop/db-from-api ingress[0]"
	//   }
	// }
	// shop/Deployment/api → shop/Deployment/api: all
	// shop/Deployment/api → shop/Deployment/db: TCP/5432
	// shop/Deployment/api → anywhere else: all
	// shop/Deployment/db → shop/Deployment/api: all
	// shop/Deployment/db → anywhere else: all
	// anywhere else → shop/Deployment/api: all
}
