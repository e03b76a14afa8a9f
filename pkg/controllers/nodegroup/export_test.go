package nodegroup

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ReconcileRequest runs what the manager runs for a request, including the NodeGroup-gone path.
func (c *Controller) ReconcileRequest(ctx context.Context, name string) (reconcile.Result, error) {
	return c.reconcileRequest(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
}
