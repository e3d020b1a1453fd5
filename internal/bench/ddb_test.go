package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
)

// reads is what DynamoDB reads cost, as DynamoDB counts items read: a Query or Scan
// reads ScannedCount items (before any filter), a GetItem the item it found, a
// BatchGetItem the items it returned.
type reads struct {
	Index    int64 // items read from the due and remind indexes
	Query    int64 // items read by other queries (table and owner index)
	Get      int64 // items read by GetItem and BatchGetItem
	Scan     int64 // items read by scans
	Requests int64 // read requests, found or not
	Writes   int64 // write requests (a transaction counts its items)
}

func (r reads) Items() int64 { return r.Index + r.Query + r.Get + r.Scan }

func (r reads) sub(o reads) reads {
	return reads{Index: r.Index - o.Index, Query: r.Query - o.Query, Get: r.Get - o.Get, Scan: r.Scan - o.Scan,
		Requests: r.Requests - o.Requests, Writes: r.Writes - o.Writes}
}

// ddb is the dynamo.API the benchmarks hand the store: the SDK client, counting what
// every read costs. On a stand-in without transactions (dynalite), TransactWriteItems
// is applied as its conditional writes one after the other — not atomic, which a
// benchmark with one writer per item does not notice — and a failed condition comes
// back as the TransactionCanceledException DynamoDB would send.
type ddb struct {
	c    *dynamodb.Client
	noTx bool
	// meter asks the stand-in for the capacity each request consumed and adds it up as
	// DynamoDB on-demand bills it (see capacity); only the cost benchmark sets it.
	meter bool
	cap   capacity

	index, query, get, scan, requests, writes atomic.Int64
}

var _ dynamo.API = (*ddb)(nil)

func (d *ddb) snapshot() reads {
	return reads{Index: d.index.Load(), Query: d.query.Load(), Get: d.get.Load(), Scan: d.scan.Load(),
		Requests: d.requests.Load(), Writes: d.writes.Load()}
}

func (d *ddb) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if d.meter {
		cp := *in
		cp.ReturnConsumedCapacity, in = types.ReturnConsumedCapacityTotal, &cp
	}
	out, err := d.c.GetItem(ctx, in, opts...)
	d.requests.Add(1)
	if err == nil {
		d.cap.read(out.ConsumedCapacity, in.ConsistentRead)
		if out.Item != nil {
			d.get.Add(1)
			d.cap.saw(out.Item)
		}
	}
	return out, err
}

func (d *ddb) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if d.meter {
		cp := *in
		cp.ReturnConsumedCapacity, in = types.ReturnConsumedCapacityTotal, &cp
	}
	out, err := d.c.BatchGetItem(ctx, in, opts...)
	d.requests.Add(1)
	if err == nil {
		for _, cc := range out.ConsumedCapacity {
			d.cap.read(&cc, nil)
		}
		for _, items := range out.Responses {
			d.get.Add(int64(len(items)))
			for _, it := range items {
				d.cap.saw(it)
			}
		}
	}
	return out, err
}

func (d *ddb) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if d.meter {
		cp := *in
		cp.ReturnConsumedCapacity, in = types.ReturnConsumedCapacityTotal, &cp
	}
	out, err := d.c.Query(ctx, in, opts...)
	d.requests.Add(1)
	if err == nil {
		d.cap.read(out.ConsumedCapacity, in.ConsistentRead)
		for _, it := range out.Items {
			d.cap.saw(it)
		}
		switch aws.ToString(in.IndexName) {
		case dynamo.DueIndex, dynamo.RemindIndex:
			d.index.Add(int64(out.ScannedCount))
		default:
			d.query.Add(int64(out.ScannedCount))
		}
	}
	return out, err
}

func (d *ddb) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	out, err := d.c.Scan(ctx, in, opts...)
	d.requests.Add(1)
	if err == nil {
		d.scan.Add(int64(out.ScannedCount))
	}
	return out, err
}

func (d *ddb) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return d.putItem(ctx, in, false, opts...)
}

// putItem is a put, standalone or one item of a transaction applied by the shim.
func (d *ddb) putItem(ctx context.Context, in *dynamodb.PutItemInput, tx bool, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	d.writes.Add(1)
	if d.meter {
		cp := *in
		cp.ReturnConsumedCapacity, in = types.ReturnConsumedCapacityTotal, &cp
	}
	out, err := d.c.PutItem(ctx, in, opts...)
	if err == nil {
		d.cap.write(out.ConsumedCapacity, tx, wrotePut, in.Item)
	}
	return out, err
}

func (d *ddb) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return d.deleteItem(ctx, in, false, opts...)
}

func (d *ddb) deleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, tx bool, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	d.writes.Add(1)
	if d.meter {
		cp := *in
		cp.ReturnConsumedCapacity, in = types.ReturnConsumedCapacityTotal, &cp
	}
	out, err := d.c.DeleteItem(ctx, in, opts...)
	if err == nil {
		d.cap.write(out.ConsumedCapacity, tx, wroteDelete, in.Key)
	}
	return out, err
}

func (d *ddb) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return d.updateItem(ctx, in, false, opts...)
}

func (d *ddb) updateItem(ctx context.Context, in *dynamodb.UpdateItemInput, tx bool, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.writes.Add(1)
	if d.meter {
		cp := *in
		cp.ReturnConsumedCapacity, in = types.ReturnConsumedCapacityTotal, &cp
	}
	out, err := d.c.UpdateItem(ctx, in, opts...)
	if err == nil {
		d.cap.write(out.ConsumedCapacity, tx, wroteUpdate, in.Key)
	}
	return out, err
}

func (d *ddb) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if !d.noTx {
		if d.meter {
			panic("bench: metering needs the transaction shim (a stand-in without transactions)")
		}
		d.writes.Add(int64(len(in.TransactItems)))
		return d.c.TransactWriteItems(ctx, in, opts...)
	}
	reasons := make([]types.CancellationReason, len(in.TransactItems))
	for i := range reasons {
		reasons[i].Code = aws.String("None")
	}
	for i, it := range in.TransactItems {
		var err error
		switch {
		case it.Put != nil:
			p := it.Put
			_, err = d.putItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
				ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues}, true, opts...)
		case it.Delete != nil:
			x := it.Delete
			_, err = d.deleteItem(ctx, &dynamodb.DeleteItemInput{TableName: x.TableName, Key: x.Key, ConditionExpression: x.ConditionExpression,
				ExpressionAttributeNames: x.ExpressionAttributeNames, ExpressionAttributeValues: x.ExpressionAttributeValues}, true, opts...)
		case it.Update != nil:
			u := it.Update
			_, err = d.updateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
				ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
				ExpressionAttributeValues: u.ExpressionAttributeValues}, true, opts...)
		default:
			return nil, errors.New("bench: the transaction shim applies Put, Update and Delete only")
		}
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			reasons[i] = types.CancellationReason{Code: aws.String("ConditionalCheckFailed"), Message: aws.String(failed.ErrorMessage())}
			return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled (shim)"), CancellationReasons: reasons}
		}
		if err != nil {
			return nil, err
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// bulk is a dynamo.API for seeding: every write the store makes (conditional puts and
// transactions alike) is queued unconditionally and written by BatchWriteItem, 25
// items at a time from several goroutines; reads go to the client. The items are the
// ones the store itself encodes, so the table holds exactly what the store would
// have written. Only for fresh keys: conditions are not checked.
type bulk struct {
	c     *dynamodb.Client
	table string
	// skip leaves out items by sort-key prefix (items nothing measured reads).
	skip  []string
	queue chan types.WriteRequest
	wg    sync.WaitGroup

	mu  sync.Mutex
	err error
}

const bulkWorkers = 8

func newBulk(c *dynamodb.Client, table string, skip ...string) *bulk {
	b := &bulk{c: c, table: table, skip: skip, queue: make(chan types.WriteRequest, 4096)}
	for range bulkWorkers {
		b.wg.Go(b.work)
	}
	return b
}

func (b *bulk) work() {
	batch := make([]types.WriteRequest, 0, 25)
	for wr := range b.queue {
		batch = append(batch, wr)
		if len(batch) == 25 {
			b.write(batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		b.write(batch)
	}
}

func (b *bulk) write(batch []types.WriteRequest) {
	pending := map[string][]types.WriteRequest{b.table: batch}
	for attempt := 0; len(pending[b.table]) > 0; attempt++ {
		out, err := b.c.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			b.fail(err)
			return
		}
		if attempt > 10 {
			b.fail(fmt.Errorf("bulk: %d items still unprocessed", len(out.UnprocessedItems[b.table])))
			return
		}
		pending = out.UnprocessedItems
		if len(pending[b.table]) > 0 {
			time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
		}
	}
}

func (b *bulk) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// close waits for every queued write and reports the first failure.
func (b *bulk) close() error {
	close(b.queue)
	b.wg.Wait()
	return b.err
}

func (b *bulk) put(item map[string]types.AttributeValue) {
	if sk, ok := item[dynamo.AttrSK].(*types.AttributeValueMemberS); ok {
		for _, prefix := range b.skip {
			if strings.HasPrefix(sk.Value, prefix) {
				return
			}
		}
	}
	b.queue <- types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
}

func (b *bulk) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	b.put(in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

func (b *bulk) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		if it.Put == nil {
			return nil, errors.New("bulk: only puts can be seeded")
		}
		b.put(it.Put.Item)
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

func (b *bulk) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errors.New("bulk: seeding never deletes")
}

func (b *bulk) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errors.New("bulk: seeding never updates")
}

func (b *bulk) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return b.c.GetItem(ctx, in, opts...)
}

func (b *bulk) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return b.c.Query(ctx, in, opts...)
}

func (b *bulk) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return b.c.BatchGetItem(ctx, in, opts...)
}

// table is one fresh table on a DynamoDB stand-in, with a counting client.
type table struct {
	name string
	c    *dynamodb.Client
	db   *ddb
}

var tableSeq atomic.Int64

// newTable creates a table on the stand-in at endpoint; it is dropped when the
// benchmark ends. noTx marks a stand-in without transactions.
func newTable(tb testing.TB, endpoint string, noTx bool) *table {
	tb.Helper()
	c := dynamodb.NewFromConfig(standin.AWSConfig(endpoint))
	name := fmt.Sprintf("relink-bench-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	if err := dynamo.CreateTable(context.Background(), c, name); err != nil {
		tb.Fatalf("create table: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return &table{name: name, c: c, db: &ddb{c: c, noTx: noTx}}
}

// capacity adds up what DynamoDB on-demand would bill for a metered ddb's requests.
// Reads: the read request units the stand-in reports, which follow DynamoDB's rules
// (4 KB a unit, rounded up per item for GetItem and per request for Query, half for an
// eventually consistent read, half a unit for a miss). Writes: the units reported for
// the table (1 KB a unit, the larger of the old and new item), doubled for the items of
// a transaction, plus the index writes the stand-in does not report. A write to an
// item that is or was in an index writes the index, twice when it moves the item's
// index key (a delete and a put) — for the due and remind indexes, which project ALL,
// on every write; for the owner index, which projects a few attributes, only when its
// key or one of those changes. An index write costs what the table write did (the
// items are small). An item's old index entries are those it had when the benchmark
// last saw it, read or written; an item never seen is taken to keep them.
type capacity struct {
	mu       sync.Mutex
	rru, wru float64
	indexWRU float64
	seen     map[string]indexKeys
	// renewalBytes is the largest renewal claim written, by DynamoDB's item size rules.
	renewalBytes int
}

// itemSize is an item's size as DynamoDB counts it: attribute names plus values
// (strings and binaries their length, numbers about one byte per two digits).
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += (len(v.Value)+1)/2 + 1
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
			n++
		default:
			n += 8 // lists, maps, sets: none in the records measured here
		}
	}
	return n
}

// indexKeys is an item's entry in each global secondary index: its key there ("" when
// not in it) and, for an index that projects only some attributes, their values.
type indexKeys [3]struct{ key, projected string }

var indexAttrs = [3][2]string{
	{dynamo.AttrOwnerPK, dynamo.AttrSK}, {dynamo.AttrDueShard, dynamo.AttrDueAt}, {dynamo.AttrRemindShard, dynamo.AttrRemindAt},
}

// projectedAttrs are, per index, the non-key attributes it carries (nil: all).
var projectedAttrs = [3][]string{dynamo.OwnerIndexAttributes(), nil, nil}

func attrText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "s:" + v.Value
	case *types.AttributeValueMemberN:
		return "n:" + v.Value
	}
	return ""
}

func keysOf(item map[string]types.AttributeValue) (itemKey string, keys indexKeys) {
	itemKey = attrText(item[dynamo.AttrPK]) + "\x00" + attrText(item[dynamo.AttrSK])
	for i, a := range indexAttrs {
		if h, r := attrText(item[a[0]]), attrText(item[a[1]]); h != "" && r != "" {
			keys[i].key = h + "\x00" + r
			for _, name := range projectedAttrs[i] {
				keys[i].projected += name + "=" + attrText(item[name]) + "\x00"
			}
		}
	}
	return itemKey, keys
}

type snapshotCapacity struct{ RRU, WRU, IndexWRU float64 }

func (s snapshotCapacity) sub(o snapshotCapacity) snapshotCapacity {
	return snapshotCapacity{RRU: s.RRU - o.RRU, WRU: s.WRU - o.WRU, IndexWRU: s.IndexWRU - o.IndexWRU}
}

func (c *capacity) snapshot() snapshotCapacity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return snapshotCapacity{RRU: c.rru, WRU: c.wru, IndexWRU: c.indexWRU}
}

// read bills one read request; a request that read nothing still costs the minimum,
// which the stand-in does not report (half a unit, a whole one read consistently).
func (c *capacity) snapshotRenewalBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renewalBytes
}

func (c *capacity) read(cc *types.ConsumedCapacity, consistent *bool) {
	if cc == nil {
		return
	}
	least := 0.5
	if aws.ToBool(consistent) {
		least = 1
	}
	c.mu.Lock()
	c.rru += max(aws.ToFloat64(cc.CapacityUnits), least)
	c.mu.Unlock()
}

// saw notes the index keys of an item read.
func (c *capacity) saw(item map[string]types.AttributeValue) {
	k, keys := keysOf(item)
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]indexKeys{}
	}
	c.seen[k] = keys
	c.mu.Unlock()
}

// writeKind is what a write did to its item.
type writeKind int

const (
	wrotePut    writeKind = iota // item: the whole new item
	wroteUpdate                  // item: its key; the item keeps its index entries
	wroteDelete                  // item: its key
)

// write bills one item written.
func (c *capacity) write(cc *types.ConsumedCapacity, tx bool, kind writeKind, item map[string]types.AttributeValue) {
	if cc == nil {
		return
	}
	units := aws.ToFloat64(cc.CapacityUnits)
	k, entries := keysOf(item)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]indexKeys{}
	}
	old, known := c.seen[k]
	var now indexKeys
	switch kind {
	case wroteDelete:
		delete(c.seen, k)
	case wroteUpdate:
		now = old
	case wrotePut:
		now = entries
		if !known {
			old = now
		}
		c.seen[k] = now
		if pk, ok := item[dynamo.AttrPK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "SEND#"+store.RenewalKeyPrefix) {
			c.renewalBytes = max(c.renewalBytes, itemSize(item))
		}
	}
	if tx {
		units *= 2
	}
	c.wru += units
	base := aws.ToFloat64(cc.CapacityUnits)
	for i := range now {
		switch o, n := old[i], now[i]; {
		case o.key == "" && n.key == "":
		case o.key != "" && n.key != "" && o.key != n.key:
			c.indexWRU += 2 * base
		case o.key != "" && n.key != "" && projectedAttrs[i] != nil && o.projected == n.projected:
			// Nothing the index carries changed: no index write.
		default:
			c.indexWRU += base
		}
	}
}
